"""The ``kubernetes`` collector: Kubernetes objects of catalog entities as facts, as Soundcheck's integration.

Facts (Soundcheck's names): ``kubernetes:default/services``, ``pods``, ``deployments``,
``horizontalpodautoscalers``, ``statefulsets``, ``poddisruptionbudgets``, ``ingresses``. Configured as Soundcheck
configures it -- the clusters come from Backstage's own ``kubernetes:`` block, the collector block says what to
collect and when::

    kubernetes:
      clusterLocatorMethods:
        - type: config
          clusters:
            - {name: prod, url: https://k8s.example.com, authProvider: serviceAccount,
               serviceAccountToken: ${K8S_PROD_TOKEN}, caData: ${K8S_PROD_CA}}
    soundcheck:
      collectors:
        kubernetes:
          frequency: {hours: 1}
          collects:
            - type: deployments
            - type: poddisruptionbudgets

Modules: ``clusters`` (Backstage's config and catalog cluster locators, TLS), ``kubeconfig`` (kubeconfig files:
a context to query, or credentials lent to clusters of cloud auth providers), ``exec_credential`` (kubeconfig
``exec`` plugins), ``selectors`` (which objects belong to an entity),
``resources`` (the kinds, fact data and schemas), ``manifests`` (objects read from files in a checkout),
``collector`` (the collector).
"""

from soundcheck_cli.collectors.kubernetes.collector import KubernetesCollector

__all__ = ["KubernetesCollector"]
