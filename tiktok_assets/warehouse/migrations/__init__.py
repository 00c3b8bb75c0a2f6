"""Alembic migrations of the warehouse schema, run by ``create_schema`` (no ``alembic.ini``: see ``MIGRATIONS.md``).

``env.py`` runs on the connection ``create_schema`` hands it, inside its
transaction and lock; ``versions/`` holds the revisions; ``schema_4.py`` and
``legacy.py`` are the frozen hand-rolled schema a warehouse of before Alembic
is brought to first.
"""
