"""Policy as code: named rules over the specs, the plan and the change, in a Jinja2 sandbox."""
