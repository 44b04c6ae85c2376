"""Media: audio the platform makes and keeps (speech synthesis, recordings as WAV and MP3)."""
