"""Factories that build test fixtures with the real ML libraries (test-only code)."""
