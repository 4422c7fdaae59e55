// Source: karzoun-miniapps-docs/guides/authentication.mdx, "HTTP Basic Auth": the `auth` block
// verbatim, and its "Use the same header on every action / source / sync request" headers in the
// action. Identity fields as guides/marketplace.mdx writes them; the WooCommerce connection
// (Consumer Key + Consumer Secret + Store URL) as guides/ecommerce.mdx describes it.
const woocommerceMiniApp = {
  ns: "woocommerce",
  name: "woocommerce",
  type: "woocommerce",
  title: "WooCommerce",
  label: "WooCommerce",
  description: "Find orders and products in your WooCommerce store.",
  shortDescription: "WooCommerce orders and products",
  status: "private",
  version: "1.0.0",
  category: "ecommerce",
  icon: "https://cdn.example.com/woocommerce/icon.svg",
  logo: "https://cdn.example.com/woocommerce/logo.svg",
  docsUrl: "https://docs.example.com/karzoun-woocommerce",

auth: {
  type: 'apikey',

  form: {
    storeUrl: {
      type: 'text',
      label: 'Store URL',
      placeholder: 'https://mystore.com',
      required: true,
    },
    consumerKey: {
      type: 'text',
      label: 'Consumer Key',
      required: true,
    },
    consumerSecret: {
      type: 'password',
      label: 'Consumer Secret',
      required: true,
    },
  },

  // Connection test before marking the install connected
  test_token: {
    url: '{{storeUrl}}/wp-json/wc/v3/orders',
    method: 'GET',
    headers: {
      // → Authorization: Basic base64(consumerKey:consumerSecret)
      Authorization: 'Basic [[consumerKey]]:[[consumerSecret]]',
      'Content-Type': 'application/json',
    },
    queryParams: { per_page: '1' },
    mapping: { connected: 'true' },
  },
},

  actions: [
    {
      name: "findOrder",
      title: "Find Order",
      description: "Find an order by its number",
      renderStrategy: "auto",
      parameters: {
        type: "object",
        required: ["orderId"],
        properties: {
          orderId: { type: "string", title: "Order number" },
        },
      },
      requests: [
        {
          url: "{{storeUrl}}/wp-json/wc/v3/orders/{{orderId}}",
          method: "GET",
headers: {
  Authorization: 'Basic [[consumerKey]]:[[consumerSecret]]',
  'Content-Type': 'application/json',
},
          mapping: { orderStatus: "$.status" },
        },
      ],
    },
  ],
};
