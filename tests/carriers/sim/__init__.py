"""Tests for the simulated network."""
