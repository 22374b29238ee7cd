"""The web console (工作台): staff do in a browser what the CLI does, through the same domain functions.

No business rule lives here: routes parse a form, call one function of pipeline.items / pipeline.records /
pipeline.engine with the authenticated person, and render a template. See docs/console.md.
"""
