// Source: karzoun-miniapps-docs/guides/authentication.mdx, "OAuth 2.0": the `auth` block verbatim
// (auth_url in its documented object form {url, method, ...}, get_token, refresh_token,
// auto_refresh, userDetails). Identity fields and triggers as examples/salla.mdx writes them.
const providerMiniApp = {
  ns: "provider",
  name: "provider",
  type: "provider",
  title: "Provider",
  label: "Provider",
  description: "Sync orders from Provider.",
  shortDescription: "Provider orders",
  status: "private",
  version: "1.0.0",
  category: "ecommerce",
  icon: "https://cdn.example.com/provider/icon.svg",
  logo: "https://cdn.example.com/provider/logo.svg",
  docsUrl: "https://docs.example.com/karzoun-provider",

auth: {
  type: 'oauth2',

  sensitiveKeys: ['accessToken', 'refreshToken'],

  // OAuth configuration (available as {{key}} placeholders)
  config: {
    client_id: 'your-client-id',
    client_secret: 'your-client-secret',
    scope: 'read write',
    response_type: 'code',
    grant_type: 'authorization_code',
    accessToken: '',
    refreshToken: '',
  },

  // Build the authorization redirect URL
  auth_url: {
    url: 'https://provider.com/oauth/authorize?client_id={{client_id}}&scope={{scope}}&response_type={{response_type}}&redirect_uri={{redirect_uri}}',
    method: 'GET',
    headers: {},
    bodyType: 'json',
    body: {},
    mapping: {},
  },

  // Exchange authorization code for tokens
  get_token: {
    url: 'https://provider.com/oauth/token',
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    bodyType: 'json',
    body: {
      client_id: '{{client_id}}',
      client_secret: '{{client_secret}}',
      grant_type: '{{grant_type}}',
      code: '{{code}}',
      redirect_uri: '{{redirect_uri}}',
    },
    // Map response to credential keys
    mapping: {
      accessToken: '$.access_token',
      refreshToken: '$.refresh_token',
      expiresIn: '$.expires_in',
    },
  },

  // Refresh expired tokens
  refresh_token: {
    url: 'https://provider.com/oauth/token',
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    bodyType: 'json',
    body: {
      client_id: '{{client_id}}',
      client_secret: '{{client_secret}}',
      grant_type: 'refresh_token',
      refresh_token: '[[refreshToken]]',
    },
    mapping: {
      accessToken: '$.access_token',
      refreshToken: '$.refresh_token',
      expiresIn: '$.expires_in',
    },
  },

  // Auto-refresh on 401 responses
  auto_refresh: true,

  // Fetch user identity after authentication
  userDetails: {
    url: 'https://api.provider.com/v2/oauth2/user/info',
    method: 'GET',
    headers: {
      Authorization: 'Bearer [[accessToken]]',
      'Content-Type': 'application/json',
    },
    bodyType: 'json',
    body: {},
    mapping: {
      uid: '$.data.id',
      name: '$.data.name',
    },
  },

  // Post-auth setup (see Registration Requests below)
  registrationRequests: [],
},

  triggers: [
    {
      type: "miniapps:provider",
      event: "order.created",
      icon: "shopping-cart",
      label: "Order Created",
      description: "New order placed",
      isCustom: false,
      img: "automation3.svg",
    },
  ],
};
