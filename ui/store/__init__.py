"""Where test runs, answers, ratings and votes are kept: SQLite in GLM_DATA_DIR by default,
PostgreSQL when DATABASE_URL says so. The database drivers are imported only here."""
