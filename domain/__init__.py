"""Rules of the product, pure: no SQL, no Telegram, no clock. `storage` applies them inside
its transactions; tests check them without a database."""
