"""Rendering: content, tracking, plain text, HTML edits and MIME."""
