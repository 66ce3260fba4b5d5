"""A local emulator of Shopify's GraphQL Admin API for gift cards (spec shopify.md §14).

Public entry points: `create_sandbox_app`, `start_sandbox`, `run_sandbox`, `SandboxConfig`.
"""
