// A real OpenID Connect provider for the single sign-on tests and the demo: oidc-provider
// (OpenID Certified), with its development sign-in pages (any login, any password: the login
// becomes the account). Every account `x` has the verified address `x@leboom.test`, except
// `unverified-…` accounts, whose address is not verified.
//
// Environment: OIDC_PORT, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_REDIRECT_URL;
// OIDC_CLOCK_OFFSET_SECS shifts the provider's clock while it answers at its token endpoint (a
// negative offset makes it issue ID tokens that are already expired; its sign-in pages and
// cookies keep the right time).
import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT || 8091);
const issuer = `http://127.0.0.1:${port}`;
const offset = Number(process.env.OIDC_CLOCK_OFFSET_SECS || 0);
let shifted = false;
if (offset) {
  const real = Date.now;
  Date.now = () => real() + (shifted ? offset * 1000 : 0);
}

const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.OIDC_CLIENT_ID || 'boom',
    client_secret: process.env.OIDC_CLIENT_SECRET || 'boom-test-secret',
    redirect_uris: [process.env.OIDC_REDIRECT_URL || 'http://127.0.0.1:8080/api/auth/oidc/callback'],
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { methods: ['S256'], required: () => true },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  // The e-mail goes into the ID token itself, as Infomaniak's does.
  conformIdTokenClaims: false,
  findAccount: async (ctx, id) => ({
    accountId: id,
    claims: async () => ({ sub: id, email: `${id}@leboom.test`, email_verified: !id.startsWith('unverified'), name: id }),
  }),
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['boom-test-provider-cookie-key'] },
  ttl: { IdToken: 300, AccessToken: 300, AuthorizationCode: 60, Interaction: 600, Session: 600, Grant: 600 },
});
provider.proxy = false;
provider.use(async (ctx, next) => {
  shifted = ctx.path === '/token';
  try { await next(); } finally { shifted = false; }
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider ready on ${issuer}`);
});
