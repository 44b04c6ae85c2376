"""Tests for the SMPP carrier."""
