"""The contract at the bottom of every flow: the repository layout, the typed model card,
the error taxonomy, the exporters' settings and revscoring feature lists as files."""
