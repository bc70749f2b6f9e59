//! The built-in Stripe emulator (see DESIGN §5). Filled in by the emulator issue.
