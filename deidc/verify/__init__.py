"""``deidc verify``: check a de-identified release against its originals, file by file."""
