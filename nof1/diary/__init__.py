"""The diary: the patient's daily records in SQLite, their validation and their hash chain."""
