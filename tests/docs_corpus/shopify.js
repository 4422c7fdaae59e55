// A Shopify MiniApp as the e-commerce guide describes it: X-Shopify-Hmac-Sha256 (base64),
// the topic header as the event, the global API secret in auth.config.
const shopifyMiniApp = {
  ns: "shopify",
  name: "shopify",
  type: "shopify",
  title: "Shopify",
  label: "Shopify",
  description: "Sync orders from Shopify.",
  shortDescription: "Shopify orders",
  status: "private",
  version: "1.0.0",
  category: "ecommerce",
  icon: "https://cdn.example.com/shopify/icon.svg",
  logo: "https://cdn.example.com/shopify/logo.svg",
  docsUrl: "https://docs.example.com/shopify",

  auth: {
    type: "apikey",
    sensitiveKeys: ["accessToken", "webhookSecret"],
    config: { accessToken: "", webhookSecret: "" },
  },

  triggers: [
    {
      type: "miniapps:shopify",
      event: "orders/create",
      img: "automation3.svg",
      icon: "shopping-cart",
      label: "Order Created",
      description: "New order placed",
      isCustom: false,
    },
    {
      type: "miniapps:shopify",
      event: "orders/updated",
      img: "automation3.svg",
      icon: "shopping-cart",
      label: "Order Updated",
      description: "Order updated",
      isCustom: false,
    },
  ],

  webhook: {
    eventExtraction: { source: "header", path: "X-Shopify-Topic" },
    transactionId: { paths: ["$.id"], fallback: "generate" },
    verification: {
      type: "hmac-sha256",
      headerName: "X-Shopify-Hmac-Sha256",
      secretKey: "webhookSecret", // Global secret in auth.config
      encoding: "base64",
    },
    response: { statusCode: 200, body: { ok: true } },
  },

  sync: {
    webhooks: {
      handlers: {
        "orders/create": { resource: "orders", operation: "upsert", dataPath: "$" },
        "orders/updated": { resource: "orders", operation: "upsert", dataPath: "$" },
      },
    },
  },
};
