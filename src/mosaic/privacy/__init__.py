"""Privacy: the export ZIP, subject access and account erasure."""
