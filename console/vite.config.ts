import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// Served by the gateway under /console/ (ADR 0029); `npm run dev` proxies the APIs to a local gateway.
export default defineConfig({
  base: "/console/",
  plugins: [react()],
  build: { outDir: "dist", sourcemap: false, chunkSizeWarningLimit: 2000 },
  server: {
    proxy: {
      "^/(recommendations|personalize-ranking|events|items|users|actions|action-recommendations)": "http://127.0.0.1:8080",
      "^/$": "http://127.0.0.1:8080",
    },
  },
});
