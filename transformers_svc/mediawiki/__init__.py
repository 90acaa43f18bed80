"""MediaWiki: the async Action API client services use."""
