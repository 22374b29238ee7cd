"""The annual report: data, format, checks, rendering to HTML, Markdown, JSON and DOCX."""
