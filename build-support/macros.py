# ruff: noqa: F821  (the target types are globals Pants provides to BUILD files and preludes)
# BUILD-file macros (pants.toml [GLOBAL].build_file_prelude_globs). Like a BUILD file, this may
# not import anything; the target types are in scope.


def scaisend_service(service):
    """The four artifacts every deployable service has, named alike so CI can find them.

    - `:src`, `:package-data`, `:pyproject`: the service's sources and the files hatchling needs;
    - `:dist`: its wheel, built by hatchling from pyproject.toml, carrying the `scaisend.commands`
      entry points through which `scaisend` finds the service's commands;
    - `:pex`: dist/services.<service>/scaisend-<service>.pex, `scaisend` with core and this service
      only. It is built from the two wheels (not loose sources) so the entry-point metadata is
      there; the wheels carry no third-party code, so runtime-scaisend-<service> (the closure of
      their pyproject dependencies from uv.lock) supplies drivers, extras and plugins that import
      inference alone would miss;
    - `:image`: the container image, for a machine with a Docker engine (none here), built with
      `scripts/pants package services/<service>:image` and tagged "docker" so that
      scripts/pants-check can leave it out (`--tag=-docker`).
    """
    dist = "scaisend-" + service
    python_sources(name="src", sources=["src/**/*.py"])
    resources(name="package-data", sources=["src/**/*", "!src/**/*.py"])
    file(name="pyproject", source="pyproject.toml")
    python_distribution(
        name="dist",
        dependencies=[":src", ":package-data", ":pyproject"],
        provides=python_artifact(name=dist, version="0.1.0"),
        generate_setup=False,
        wheel=True,
        sdist=False,
    )
    pex_binary(
        name="pex",
        entry_point="scaisend_core.cli:main",
        dependencies=[":dist", "//libs/scaisend-core:dist", "//3rdparty/python:runtime-" + dist],
        output_path="services." + service + "/" + dist + ".pex",
    )
    files(name="docker-context", sources=["pyproject.toml", "src/**/*"])
    docker_image(
        name="image",
        source="Dockerfile",
        repository="scaisend/" + service,
        image_tags=["0.1.0"],
        dependencies=[
            ":docker-context",
            "//libs/scaisend-core:docker-context",
            "//:workspace-files",
        ],
        tags=["docker"],
    )
