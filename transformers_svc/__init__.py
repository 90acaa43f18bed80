"""KServe transformer services: request -> MediaWiki -> features or tokens -> Triton -> response."""
