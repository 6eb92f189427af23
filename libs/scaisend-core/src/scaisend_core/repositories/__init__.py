"""Queries shared by more than one service; every tenant-owned read filters by tenant_id."""
