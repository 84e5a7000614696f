"""The result store: immutable result files, a SQLite index built from them, export, paper data."""
