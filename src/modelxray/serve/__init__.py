"""``modelxray serve``: the scanning service and the Hugging Face-compatible gateway."""
