"""revscoring models behind Triton: MediaWiki data -> revscoring features -> Triton -> ORES format."""
