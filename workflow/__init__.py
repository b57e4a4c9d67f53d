"""The domain: models, transitions, deadlines, people, media, reports and the message catalogue."""
