"""The customer web portal: sign-up, dashboard, history, rewards, referrals, profile."""
