"""giftcard-adapter: NewStore gift-card webhooks on Shopify's gift-card ledger."""
