"""The built-in configuration, used when no `--config` is given.

Kept as YAML text (not a file read at import) so `tierwise config default` can print exactly what
runs, and a user can copy it as a starting point.
"""

# Model ids and list prices (USD per million input / output tokens) of Anthropic's Claude 4.5
# family, as published on Anthropic's pricing page; checked 2026-11-28. Edit them here or in
# your own config when prices change.
DEFAULT_CONFIG_YAML = """\
# tierwise configuration. Tiers are ordered cheapest first.
tiers:
  - name: haiku
    model: claude-haiku-4-5
    provider: anthropic
    price_in: 1.0
    price_out: 5.0
    context_window: 200000
    aliases: [cheap, fast, small]
    deployments:
      - provider: anthropic
        base_url: https://api.anthropic.com
        api_key: ${ANTHROPIC_API_KEY:-}
  - name: sonnet
    model: claude-sonnet-4-5
    provider: anthropic
    price_in: 3.0
    price_out: 15.0
    context_window: 200000
    aliases: [mid, medium, balanced]
    deployments:
      - provider: anthropic
        base_url: https://api.anthropic.com
        api_key: ${ANTHROPIC_API_KEY:-}
  - name: opus
    model: claude-opus-4-5
    provider: anthropic
    price_in: 5.0
    price_out: 25.0
    context_window: 200000
    aliases: [strong, best, large]
    deployments:
      - provider: anthropic
        base_url: https://api.anthropic.com
        api_key: ${ANTHROPIC_API_KEY:-}

routing:
  policy: heuristic
"""
