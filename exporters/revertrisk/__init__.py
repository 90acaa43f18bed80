"""Language-agnostic revert risk: its features (a pure function of MediaWiki API documents,
shared by training and serving) and the fixture dumps it is trained from."""
