// Source: karzoun-miniapps-docs/guides/marketplace.mdx: the listing fields verbatim, including
// the `description` template literal (backticks, no ${...}). The rest (ns, name, type, auth,
// triggers) as examples/dropbox.mdx writes them.
const myServiceMiniApp = {
  ns: 'my-service',
  name: 'my-service',
  type: 'my-service',
  title: 'My Service',                                    // Main heading
  label: 'My Service',                                    // Badge/tag label
  shortDescription: 'Automate workflows with My Service', // Subtitle
  description: `
Connect **My Service** to Karzoun to:

- Automatically create tasks from incoming orders
- Send notifications when customer actions happen
- Sync data bi-directionally

## Setup Instructions

1. Create an API key in My Service settings
2. Install this app from the Marketplace
3. Paste your API key and click Connect

## Supported Events

| Event              | Description                    |
| ------------------ | ------------------------------ |
| order.created      | A new order is placed          |
| customer.updated   | Customer profile is updated    |
  `,
  icon: 'https://cdn.example.com/icon.svg',              // App icon (SVG recommended)
  logo: 'https://cdn.example.com/logo.svg',              // Full logo
  docsUrl: 'https://docs.example.com/karzoun-integration',// External docs link
  youtubeId: 'dQw4w9WgXcQ',                              // Tutorial video (optional)
  category: 'ecommerce',                                  // Filter category
  status: 'private',                                       // Karzoun sets 'public' after approval
  version: '1.0.0',                                       // Semantic version

  auth: {
    type: 'bearer_token',
    sensitiveKeys: ['accessToken'],
    config: { accessToken: '' },
  },
  webhook: null,
};
