from giftcard_emulators.shopify.server import main

main()
