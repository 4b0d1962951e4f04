"""Render a ScreenResult as JSON evidence, Markdown and HTML (with inline SVG plots). Pure rendering: never touches the store or an engine."""
