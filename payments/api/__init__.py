"""The payments HTTP API: shop billing, tips, courier payouts and earnings, Stripe webhooks."""
