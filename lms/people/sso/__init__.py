"""Single sign-on with OpenID Connect: providers, the sign-in flow, home-realm discovery."""
