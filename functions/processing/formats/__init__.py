"""Pure readers of file formats (a path in, a Document or Sheets out), content detection and the format registry.

No S3, no models, no database: everything here is testable on a local file."""
