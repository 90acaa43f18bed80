"""revscoring feature lists and the offline data they need (stopwords, dictionaries)."""
