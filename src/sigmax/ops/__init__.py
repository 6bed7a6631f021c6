"""Operations: health, backup and restore, integrity checks, rebuilding, exports, audits and
reports over a home's store (SQLite or PostgreSQL), for ``sigmax health|backup|restore|verify|
rebuild-history|export|audit|report|stats|db``. Each module is a service function returning
plain data; the CLI (``cli/ops_cmd.py``) and the API render it."""
