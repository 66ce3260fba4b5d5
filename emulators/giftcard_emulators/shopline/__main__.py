from giftcard_emulators.shopline.server import main

main()
