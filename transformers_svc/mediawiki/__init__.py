"""MediaWiki: the async API client services use, and a real local wiki for tests and the demo."""
