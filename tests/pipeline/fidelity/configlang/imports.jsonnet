local common = import 'common.libsonnet';

common.pipeline('build')
