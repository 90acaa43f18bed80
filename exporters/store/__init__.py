"""The model store: a Triton repository on Swift (S3 API), sha512-checked both ways."""
