"""Code shared by every Lambda function: names, typed step events, settings."""
