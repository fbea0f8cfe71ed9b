import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "out/", "node_modules/"] },
  ...tseslint.configs.recommended,
  {
    rules: {
      "no-console": "error", // the extension reports through VS Code, never the console
      "@typescript-eslint/no-floating-promises": "off",
    },
  },
);
