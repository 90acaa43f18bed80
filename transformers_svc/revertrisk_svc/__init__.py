"""revertrisk-language-agnostic behind Triton: MediaWiki data -> language-free features -> XGBoost."""
