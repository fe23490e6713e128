"""Cutting what a reader found into chunks: text into token windows, transcripts into timed
phrases, table rows into row groups, video into scenes."""
