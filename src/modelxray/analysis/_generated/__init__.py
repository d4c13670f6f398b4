"""Tables generated offline by scripts/ (do not edit by hand)."""
