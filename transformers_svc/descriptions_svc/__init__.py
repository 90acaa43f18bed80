"""The article-descriptions service: leads from MediaWiki, generation batched across requests on Triton."""
